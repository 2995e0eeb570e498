//! HL7 v2 from the hospital's interface engine (issue 14): messages read
//! (`parse` for the header, `adt` and `oru` for the events, over `fields`),
//! applied to the clinical tables (`apply`, through `crate::ingest`), stored
//! before they are acknowledged (`messages`), answered (`ack`), received
//! over MLLP (`mllp`), and written from a synthetic ward (`emit`).

pub mod ack;
pub mod adt;
pub mod apply;
pub mod emit;
pub mod fields;
pub mod messages;
pub mod mllp;
pub mod oru;
pub mod parse;
