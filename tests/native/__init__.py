"""The native engine, its threaded wrapper and its pure-Python reference: unit, equivalence and loopback tests."""
