"""``tikstream demo`` (``make demo``): the emulator and ``tikstream run`` in the background, the example jobs,
generated triggers, progress, and a summary checked against the emulator.

``driver`` runs it; ``services`` starts and stops the background processes; ``jobs`` applies the examples;
``generator`` makes the sample triggers; ``progress`` produces them and waits for the numbers to settle;
``observe`` reads tikstream's and the emulator's HTTP endpoints; ``summary`` builds the closing table.
"""
