"""Signal review: a safety physician's decision on each signal, with reason, user and time."""
