//! Cloud images: the catalog of distro images proxctl knows (`catalog`), the checksum formats
//! distros publish (`checksum`), where a download comes from (`resolve`), the local verified
//! cache (`cache`), unpacking of compressed images (`unpack`), and cloud-init NoCloud seeds
//! (`nocloud`) with the ISO writer that packs them (`iso`).

pub mod cache;
pub mod catalog;
pub mod checksum;
pub mod iso;
pub mod nocloud;
pub mod resolve;
pub mod unpack;
