"""The alarm system the service runs: rules evaluated on the store, the ISA-18.2 state of every
alarm, flood and chattering detection, and the journal. Qt-free, and pure where it can be: the
time is always passed in, so every part is testable without a clock."""
