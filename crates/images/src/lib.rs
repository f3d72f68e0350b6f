//! Cloud images: the catalog of distro images proxctl knows (`catalog`), and the checksum file
//! formats distros publish (`checksum`), and the local download cache (`cache`).

pub mod cache;
pub mod catalog;
pub mod checksum;
pub mod iso;
pub mod nocloud;
pub mod resolve;
