//! What the agent knows about processes.

pub mod table;
