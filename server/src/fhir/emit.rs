//! A synthetic ward as FHIR Bulk Data NDJSON (`wardbook-server synth --fhir
//! DIR`): one file per resource type, named as a Bulk Data export names them
//! (`Patient.ndjson`, `Encounter.ndjson`, `Observation.ndjson`,
//! `AllergyIntolerance.ndjson`), one resource per line. `fhir import` reads
//! them back ([`super::ndjson`]).
//!
//! Everything written is labelled HTEST (`meta.security`), so the rows it
//! creates are marked synthetic wherever they land. A second import finds
//! what the first stored: a patient by its MRN in the deployment's MRN
//! system, an observation or allergy by an identifier in a
//! `urn:wardbook:synthetic:` system holding the generator's id. An
//! Encounter has no identifier (Wardbook keeps where a patient is, not a
//! record of each stay, and refuses one): it places the patient, and placing
//! them again where they are changes nothing. References
//! to the patient are logical (by MRN identifier), not `Patient/{id}`: the
//! generator's ids mean nothing to the server importing the files, whereas
//! the MRN is what it finds the patient by.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;
use wardbook_protocol::synthetic::SyntheticWard;
use wardbook_protocol::{Allergy, Observation, Patient};

use super::convert::{allergy_to_fhir, encounter_to_fhir, htest, observation_to_fhir, patient_to_fhir};
use super::resources::{self, Identifier, Meta, Reference, ResourceName};

/// The identifier system of a synthetic observation (value: its id).
pub const OBSERVATION_SYSTEM: &str = "urn:wardbook:synthetic:observation";
/// The identifier system of a synthetic allergy (value: its id).
pub const ALLERGY_SYSTEM: &str = "urn:wardbook:synthetic:allergy";

/// What [`write_ward`] wrote: how many resources of each type, and the files.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    pub patients: u64,
    pub encounters: u64,
    pub observations: u64,
    pub allergies: u64,
    pub files: Vec<PathBuf>,
}

impl Written {
    /// Every resource written.
    pub fn resources(&self) -> u64 {
        self.patients + self.encounters + self.observations + self.allergies
    }
}

/// `meta` of a synthetic resource: the HTEST label only. The generator's
/// versions and times are not the receiving server's to keep (it ignores
/// them), so they are not written.
fn synthetic_meta() -> Option<Meta> {
    Some(Meta { security: vec![htest()], ..Meta::default() })
}

/// A logical reference to the patient by MRN.
fn subject(mrn_system: &str, mrn: &str) -> Reference {
    Reference { identifier: Some(Identifier::new(mrn_system, mrn)), ..Reference::default() }
}

/// The patient, identified by its MRN in `mrn_system`.
pub fn patient_resource(p: &Patient, mrn_system: &str) -> resources::Patient {
    resources::Patient { meta: synthetic_meta(), ..patient_to_fhir(p, mrn_system) }
}

/// The patient's current stay (ward and bed), or `None` for a patient on
/// no ward.
pub fn encounter_resource(p: &Patient, mrn_system: &str) -> Option<resources::Encounter> {
    encounter_to_fhir(p).map(|e| resources::Encounter {
        meta: synthetic_meta(),
        subject: Some(subject(mrn_system, &p.mrn)),
        ..e
    })
}

/// An observation of the patient with MRN `mrn`.
pub fn observation_resource(o: &Observation, mrn_system: &str, mrn: &str) -> resources::Observation {
    resources::Observation {
        meta: synthetic_meta(),
        identifier: vec![Identifier::new(OBSERVATION_SYSTEM, &o.id.to_string())],
        subject: Some(subject(mrn_system, mrn)),
        ..observation_to_fhir(o)
    }
}

/// An allergy of the patient with MRN `mrn`.
pub fn allergy_resource(a: &Allergy, mrn_system: &str, mrn: &str) -> resources::AllergyIntolerance {
    resources::AllergyIntolerance {
        meta: synthetic_meta(),
        identifier: vec![Identifier::new(ALLERGY_SYSTEM, &a.id.to_string())],
        patient: Some(subject(mrn_system, mrn)),
        ..allergy_to_fhir(a)
    }
}

/// Writes `ward` into `dir` (created if missing) as four NDJSON files,
/// replacing files of those names. A row whose patient is not in the ward
/// is skipped: it could not be referred to.
pub fn write_ward(ward: &SyntheticWard, mrn_system: &str, dir: &Path) -> std::io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let mut written = Written::default();
    let mrns: HashMap<Uuid, &str> = ward.patients.iter().map(|p| (p.id, p.mrn.as_str())).collect();

    let mut file = NdjsonFile::create(dir, resources::Patient::TYPE)?;
    for p in &ward.patients {
        file.write(&patient_resource(p, mrn_system))?;
    }
    written.patients = file.finish(&mut written.files)?;

    let mut file = NdjsonFile::create(dir, resources::Encounter::TYPE)?;
    for e in ward.patients.iter().filter_map(|p| encounter_resource(p, mrn_system)) {
        file.write(&e)?;
    }
    written.encounters = file.finish(&mut written.files)?;

    let mut file = NdjsonFile::create(dir, resources::Observation::TYPE)?;
    for o in &ward.observations {
        if let Some(mrn) = mrns.get(&o.patient_id) {
            file.write(&observation_resource(o, mrn_system, mrn))?;
        }
    }
    written.observations = file.finish(&mut written.files)?;

    let mut file = NdjsonFile::create(dir, resources::AllergyIntolerance::TYPE)?;
    for a in &ward.allergies {
        if let Some(mrn) = mrns.get(&a.patient_id) {
            file.write(&allergy_resource(a, mrn_system, mrn))?;
        }
    }
    written.allergies = file.finish(&mut written.files)?;
    Ok(written)
}

/// One `{Type}.ndjson` being written: a line per resource.
struct NdjsonFile {
    path: PathBuf,
    out: BufWriter<File>,
    lines: u64,
}

impl NdjsonFile {
    fn create(dir: &Path, resource_type: &str) -> std::io::Result<NdjsonFile> {
        let path = dir.join(format!("{resource_type}.ndjson"));
        Ok(NdjsonFile { out: BufWriter::new(File::create(&path)?), path, lines: 0 })
    }

    fn write(&mut self, resource: &impl serde::Serialize) -> std::io::Result<()> {
        // Compact JSON has no raw newline (one in a string is escaped), so
        // a resource stays on its line.
        serde_json::to_writer(&mut self.out, resource)?;
        self.out.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }

    /// Flushes to disk; records the path and returns the line count.
    fn finish(mut self, files: &mut Vec<PathBuf>) -> std::io::Result<u64> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        files.push(self.path);
        Ok(self.lines)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{TimeZone, Utc};
    use wardbook_protocol::synthetic::{SyntheticConfig, generate};

    use super::*;
    use crate::fhir::convert::{
        PatientRef, allergy_from_fhir, encounter_from_fhir, observation_from_fhir, patient_from_fhir,
    };

    const MRN_SYSTEM: &str = "urn:wardbook:mrn";

    fn ward() -> SyntheticWard {
        let mut config = SyntheticConfig::new(7, 3, Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap());
        config.days = 1;
        generate(&config)
    }

    #[test]
    fn every_resource_reads_back_synthetic_with_its_identifier_and_patient_by_mrn() {
        let ward = ward();
        let p = &ward.patients[0];
        let by_mrn = PatientRef::Identifier { system: MRN_SYSTEM.into(), value: p.mrn.clone() };

        let patient = patient_from_fhir(&patient_resource(p, MRN_SYSTEM), MRN_SYSTEM).unwrap();
        assert!(patient.synthetic);
        assert_eq!(patient.mrn, p.mrn);

        let encounter = encounter_from_fhir(&encounter_resource(p, MRN_SYSTEM).unwrap()).unwrap();
        assert!(encounter.synthetic);
        assert_eq!(encounter.patient, by_mrn);
        assert_eq!(encounter.identifiers, []);
        assert_eq!(encounter.ward.as_ref().and_then(|w| w.name()), p.location.as_deref());
        assert_eq!(encounter.bed.as_ref().and_then(|b| b.name()), p.bed.as_deref());

        let o = ward.observations.iter().find(|o| o.patient_id == p.id).unwrap();
        let observation = observation_from_fhir(&observation_resource(o, MRN_SYSTEM, &p.mrn)).unwrap();
        assert!(observation.synthetic);
        assert_eq!(observation.patient, by_mrn);
        assert_eq!(observation.identifiers, [(OBSERVATION_SYSTEM.to_owned(), o.id.to_string())]);
        assert_eq!(observation.value, o.value);

        let a = ward.allergies.iter().find(|a| a.patient_id == p.id).unwrap();
        let allergy = allergy_from_fhir(&allergy_resource(a, MRN_SYSTEM, &p.mrn)).unwrap();
        assert!(allergy.synthetic);
        assert_eq!(allergy.patient, by_mrn);
        assert_eq!(allergy.identifiers, [(ALLERGY_SYSTEM.to_owned(), a.id.to_string())]);
    }

    #[test]
    fn a_patient_on_no_ward_has_no_encounter() {
        let mut p = ward().patients.remove(0);
        p.location = None;
        assert!(encounter_resource(&p, MRN_SYSTEM).is_none());
    }

    #[test]
    fn files_hold_one_resource_per_line_each_labelled_htest() {
        let ward = ward();
        let dir = tempfile::tempdir().unwrap();
        let written = write_ward(&ward, MRN_SYSTEM, dir.path()).unwrap();
        assert_eq!(written.patients, 3);
        assert_eq!(written.encounters, 3);
        assert_eq!(written.observations, ward.observations.len() as u64);
        assert_eq!(written.allergies, ward.allergies.len() as u64);
        for (name, count) in [
            ("Patient", written.patients),
            ("Encounter", written.encounters),
            ("Observation", written.observations),
            ("AllergyIntolerance", written.allergies),
        ] {
            let text = std::fs::read_to_string(dir.path().join(format!("{name}.ndjson"))).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len() as u64, count, "{name}");
            for line in lines {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(value["resourceType"], name);
                assert_eq!(value["meta"]["security"][0]["code"], "HTEST");
            }
        }
    }
}
