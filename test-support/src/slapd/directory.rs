//! What the throwaway directory holds: a few synthetic people, their groups,
//! the service account that searches for them, and the `slapd.conf` that
//! serves them (schema, TLS, access control).

use std::path::Path;

/// The suffix of the directory.
pub const BASE_DN: &str = "dc=wardbook,dc=test";
/// The service account of search-then-bind; it may read every entry.
pub const SERVICE_DN: &str = "cn=wardbook-service,ou=services,dc=wardbook,dc=test";
/// The directory's superuser, which [`super::Slapd::modify`] binds as.
pub(super) const ADMIN_DN: &str = "cn=admin,dc=wardbook,dc=test";

pub const CLINICIANS_GROUP: &str = "wardbook-clinicians";
pub const PRIVACY_GROUP: &str = "wardbook-privacy";
/// A group whose name needs escaping in a DN (`cn=Ward 7\2C East,...`).
pub const WARD_GROUP: &str = "Ward 7, East";

/// What a locked account's entry fails: OpenLDAP's password policy
/// attribute. The server loads the ppolicy module for its schema only (no
/// `overlay ppolicy`), so slapd itself still accepts a locked account's
/// password and it is this filter, in the application, that refuses it.
pub const ENABLED_FILTER: &str = "(!(pwdAccountLockedTime=*))";

/// A synthetic person in `ou=people` (every entry says SYNTHETIC TEST DATA
/// in its `description`).
#[derive(Debug, Clone, Copy)]
pub struct DirectoryPerson {
    pub uid: &'static str,
    pub password: &'static str,
    /// `cn` and `displayName`.
    pub display_name: &'static str,
    /// The `cn`s of the groups (groupOfNames in `ou=groups`) they are a member of.
    pub groups: &'static [&'static str],
    /// Locked from the start (`pwdAccountLockedTime`).
    pub locked: bool,
}

pub const CLINICIAN: DirectoryPerson = DirectoryPerson {
    uid: "synth.clinician",
    password: "Clinician-synthetic-1",
    display_name: "Casey Synthetic",
    groups: &[CLINICIANS_GROUP, WARD_GROUP],
    locked: false,
};

pub const PRIVACY_OFFICER: DirectoryPerson = DirectoryPerson {
    uid: "synth.privacy",
    password: "Privacy-synthetic-2",
    display_name: "Pat Synthetic",
    groups: &[PRIVACY_GROUP],
    locked: false,
};

pub const NO_GROUP: DirectoryPerson = DirectoryPerson {
    uid: "synth.nogroup",
    password: "Nogroup-synthetic-3",
    display_name: "Noel Synthetic",
    groups: &[],
    locked: false,
};

pub const LOCKED: DirectoryPerson = DirectoryPerson {
    uid: "synth.locked",
    password: "Locked-synthetic-4",
    display_name: "Lee Synthetic",
    groups: &[CLINICIANS_GROUP],
    locked: true,
};

/// Everyone in `ou=people`.
pub const PEOPLE: [DirectoryPerson; 4] = [CLINICIAN, PRIVACY_OFFICER, NO_GROUP, LOCKED];

/// The value of `pwdAccountLockedTime` that locks an account for good.
pub(super) const LOCKED_FOREVER: &str = "000001010000Z";

pub fn user_dn(uid: &str) -> String {
    format!("uid={},ou=people,{BASE_DN}", dn_escape(uid))
}

pub fn group_dn(cn: &str) -> String {
    format!("cn={},ou=groups,{BASE_DN}", dn_escape(cn))
}

/// RFC 4514 escaping of an attribute value (enough for our synthetic
/// names), in the hex form OpenLDAP answers with (`Ward 7\2C East`), so that
/// a DN made here equals the one the server returns.
fn dn_escape(value: &str) -> String {
    let mut escaped = String::new();
    for c in value.chars() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            escaped.push_str(&format!("\\{:02X}", c as u32));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// The whole directory as LDIF, for `slapadd`.
pub(super) fn ldif(service_password: &str) -> String {
    let mut ldif = format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: wardbook\no: Wardbook test directory\n\
         description: SYNTHETIC TEST DATA\n\n"
    );
    for ou in ["people", "groups", "services"] {
        ldif += &format!("dn: ou={ou},{BASE_DN}\nobjectClass: organizationalUnit\nou: {ou}\n\n");
    }
    ldif += &format!(
        "dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: wardbook-service\nuserPassword: {service_password}\ndescription: SYNTHETIC TEST DATA\n\n"
    );
    for person in PEOPLE {
        ldif += &format!(
            "dn: {}\nobjectClass: inetOrgPerson\nuid: {}\ncn: {name}\nsn: Synthetic\ndisplayName: {name}\n\
             description: SYNTHETIC TEST DATA\nuserPassword: {}\n",
            user_dn(person.uid),
            person.uid,
            person.password,
            name = person.display_name,
        );
        for group in person.groups {
            ldif += &format!("memberOf: {}\n", group_dn(group));
        }
        if person.locked {
            ldif += &format!("pwdAccountLockedTime: {LOCKED_FOREVER}\n");
        }
        ldif.push('\n');
    }
    for group in [CLINICIANS_GROUP, PRIVACY_GROUP, WARD_GROUP] {
        ldif += &format!(
            "dn: {}\nobjectClass: groupOfNames\ncn: {group}\ndescription: SYNTHETIC TEST DATA\n",
            group_dn(group)
        );
        for person in PEOPLE.iter().filter(|p| p.groups.contains(&group)) {
            ldif += &format!("member: {}\n", user_dn(person.uid));
        }
        ldif.push('\n');
    }
    ldif
}

/// Where the system's OpenLDAP keeps what slapd.conf refers to.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub(super) schema_dir: &'static str,
    /// `None` for a slapd built with its modules inside.
    pub(super) module_dir: Option<&'static str>,
}

impl Layout {
    /// Debian and Ubuntu first, then other distributions' paths.
    pub(super) fn find() -> Option<Layout> {
        let schema_dir = ["/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema"]
            .into_iter()
            .find(|dir| Path::new(dir).join("inetorgperson.schema").is_file())?;
        let module_dir = ["/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap", "/usr/local/libexec/openldap"]
            .into_iter()
            .find(|dir| ["back_mdb.la", "back_mdb.so"].iter().any(|m| Path::new(dir).join(m).exists()));
        Some(Layout { schema_dir, module_dir })
    }
}

/// `slapd.conf` for a server whose files are all in `root`.
pub(super) fn slapd_conf(layout: &Layout, root: &Path, admin_password: &str) -> String {
    let root = root.display();
    let schema = layout.schema_dir;
    let modules = match layout.module_dir {
        Some(dir) => format!(
            "modulepath \"{dir}\"\nmoduleload back_mdb\n\
             # ppolicy for its schema (pwdAccountLockedTime) only: no `overlay ppolicy` below.\n\
             moduleload ppolicy\nmoduleload memberof\n"
        ),
        None => String::new(),
    };
    format!(
        "# wardbook-test-support: a throwaway directory of SYNTHETIC TEST DATA.\n\
         include \"{schema}/core.schema\"\ninclude \"{schema}/cosine.schema\"\n\
         include \"{schema}/inetorgperson.schema\"\n\
         {modules}\
         pidfile \"{root}/slapd.pid\"\n\
         TLSCACertificateFile \"{root}/ca.pem\"\n\
         TLSCertificateFile \"{root}/server.pem\"\n\
         TLSCertificateKeyFile \"{root}/server.key\"\n\
         database mdb\nsuffix \"{BASE_DN}\"\nrootdn \"{ADMIN_DN}\"\nrootpw \"{admin_password}\"\n\
         directory \"{root}/data\"\nmaxsize 16777216\n\
         # memberOf kept up to date when tests change a group (slapadd writes it as given).\n\
         overlay memberof\n\
         # Passwords are only ever compared; the service account reads everything, a person their own entry.\n\
         access to attrs=userPassword by anonymous auth by * none\n\
         access to * by dn.exact=\"{SERVICE_DN}\" read by self read by * none\n"
    )
}
