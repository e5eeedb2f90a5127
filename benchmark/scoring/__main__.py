"""``python -m benchmark.scoring --model NAME --seed K``: the ``score@NAME-K`` stage."""

from benchmark.scoring.stage import main

main()
