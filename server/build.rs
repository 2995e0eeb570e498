//! The central migrations are embedded by `refinery::embed_migrations!`,
//! which does not tell Cargo about the folder: a new migration must rebuild.
fn main() {
    println!("cargo:rerun-if-changed=../migrations/central");
}
