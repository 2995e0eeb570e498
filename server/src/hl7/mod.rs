//! HL7 v2 from the hospital's interface engine (issue 14): messages read
//! (`parse`, over `fields`), applied to the clinical tables (`apply`),
//! stored before they are acknowledged (`messages`), answered (`ack`), and
//! received over MLLP (`mllp`).

pub mod ack;
pub mod apply;
pub mod emit;
pub mod fields;
pub mod messages;
pub mod mllp;
pub mod parse;
