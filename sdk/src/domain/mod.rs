//! Kazakh identifiers and money, checked the way the state registries check them.
//!
//! Error messages never echo the input: identifiers are personal data.

mod bin;
mod checksum;
mod iban;
mod iin;
mod mci;

pub use bin::{Bin, BinDivision, BinEntityType};
pub use checksum::check_digit;
pub use iban::{IbanError, KzIban};
pub use iin::{IdError, Iin, Sex};
pub use mci::Mci;
