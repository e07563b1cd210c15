//! The event kinds state systems may send, and the attributes each one carries.
//!
//! The catalogue is the host's contract with the registries, versioned with the host, the
//! way the WIT is its contract with the ministries. Plugins subscribe only to kinds listed
//! here, so a typo in a manifest is a load error rather than a service that never fires.

/// What an attribute's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    Iin,
    /// A person (IIN) or an organisation (BIN): legal representatives can be either.
    IinOrBin,
    Integer {
        min: i64,
        max: i64,
    },
    Text {
        max_chars: usize,
    },
    OneOf(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    pub name: &'static str,
    pub ty: AttrType,
    pub required: bool,
}

#[derive(Debug)]
pub struct EventKind {
    pub name: &'static str,
    pub attributes: &'static [AttrSpec],
}

impl EventKind {
    pub fn attribute(&self, name: &str) -> Option<&AttrSpec> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Whether a manifest may name this attribute as its recipient.
    pub fn is_recipient_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some_and(|a| matches!(a.ty, AttrType::Iin | AttrType::IinOrBin))
    }
}

const REGION: AttrSpec = AttrSpec { name: "region", ty: AttrType::Text { max_chars: 64 }, required: true };

/// When the registry names a legal representative (a guardian, or a state institution that
/// has the person in its care), the offer goes to them instead of the manifest's recipient.
pub const REPRESENTATIVE: &str = "representative";

const REPRESENTATIVE_SPEC: AttrSpec = AttrSpec { name: REPRESENTATIVE, ty: AttrType::IinOrBin, required: false };

pub static KINDS: &[EventKind] = &[
    EventKind {
        name: "birth.registered",
        attributes: &[
            AttrSpec { name: "mother", ty: AttrType::Iin, required: true },
            AttrSpec { name: "birth_order", ty: AttrType::Integer { min: 1, max: 30 }, required: true },
            REGION,
            AttrSpec { name: "child_status", ty: AttrType::OneOf(&["alive", "deceased"]), required: true },
            REPRESENTATIVE_SPEC,
        ],
    },
    EventKind { name: "person.turns-17", attributes: &[REGION, REPRESENTATIVE_SPEC] },
];

pub fn kind(name: &str) -> Option<&'static EventKind> {
    KINDS.iter().find(|k| k.name == name)
}
