//! poolvc
