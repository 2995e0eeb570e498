//! HL7 v2 from the hospital's interface engine (issue 14): messages read
//! (`parse` for the header, `adt`, `oru` and `pharmacy` for the events, over
//! `fields`), applied to the clinical tables (`apply`, `pharmacy_apply`,
//! through `crate::ingest`), stored before they are acknowledged
//! (`messages`), answered (`ack`), received over MLLP (`mllp`), and written
//! from a synthetic ward (`emit`). Going out (issue 15): administrations
//! filed back as RAS^O17 (`ras`), queued and sent over MLLP until
//! acknowledged (`outbound`).

pub mod ack;
pub mod adt;
pub mod apply;
pub mod emit;
pub mod fields;
pub mod messages;
pub mod mllp;
pub mod oru;
pub mod outbound;
pub mod parse;
pub mod pharmacy;
pub(crate) mod pharmacy_apply;
pub mod pharmacy_timing;
pub mod ras;
pub(crate) mod sealed;
