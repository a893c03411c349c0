//! The ratatui front end. The only module that may use ratatui or crossterm.
