//! fieldloop sync server.
