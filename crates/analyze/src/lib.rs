//! Rules over collected data that produce findings with evidence and remedies.
