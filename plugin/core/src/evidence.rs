//! Evidence of provider faults, and the one function that judges it (node and actor alike).
