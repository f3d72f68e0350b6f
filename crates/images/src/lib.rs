//! Cloud images: the catalog of distro images proxctl knows (`catalog`), and the checksum file
//! formats distros publish (`checksum`). No IO beyond reading a user's catalog file.

pub mod catalog;
pub mod checksum;
