"""The local DR drill: the whole system exercised on the embedded emulator."""
