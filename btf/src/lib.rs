//! A minimal reader of the kernel's BTF: just enough to find a struct by name
//! and the byte offset of a member, looking through anonymous structs and
//! unions the way C does.
//!
//! Kernel modules (overlayfs on many distributions) have *split* BTF under
//! `/sys/kernel/btf/<module>`: its type ids continue after vmlinux's and its
//! string offsets after vmlinux's string section, so it is read on top of
//! the base ([`Btf::parse_split`]).
//!
//! Format: `Documentation/bpf/btf.rst` in the kernel tree.

use std::{collections::HashMap, path::Path};

use thiserror::Error;

const BTF_MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_ENUM64: u32 = 19;

#[derive(Debug, Error)]
pub enum BtfError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed BTF: {0}")]
    Malformed(&'static str),
    #[error("BTF has no struct `{0}`")]
    NoStruct(String),
    #[error("BTF struct `{strukt}` has no member `{member}`")]
    NoMember { strukt: String, member: String },
    #[error("BTF member `{strukt}.{member}` is a bitfield, not byte aligned")]
    Bitfield { strukt: String, member: String },
}

/// One struct or union member. Its name stays an offset into the string
/// section until a lookup compares it: vmlinux has hundreds of thousands of
/// members, and the agent reads a handful.
#[derive(Debug, Clone, Copy)]
struct Member {
    name_off: u32,
    type_id: u32,
    bit_offset: u32,
}

/// What the reader keeps of one type.
#[derive(Debug, Clone, Copy)]
enum Type {
    /// A struct or union: its members are `members[start..start + len]`.
    Composite {
        start: u32,
        len: u32,
    },
    /// A typedef, const, volatile, restrict or type tag: the type it names.
    Alias(u32),
    Other,
}

/// Struct and union types of a BTF blob, by type id. Ids are dense, so
/// types are a vector (a map per type made parsing vmlinux slow).
#[derive(Debug, Default)]
pub struct Btf {
    /// The id of `types[0]`: 1, or one past the base's last for split BTF.
    first_id: u32,
    types: Vec<Type>,
    members: Vec<Member>,
    /// Named structs: name to type id (the first one with members wins).
    structs_by_name: HashMap<String, u32>,
    /// Types in this blob and its base: the next blob's ids start after.
    type_count: u32,
    /// The string section; a split blob's is its base's followed by its own,
    /// so that every name offset indexes it directly.
    strings: Vec<u8>,
}

impl Btf {
    /// Reads the running kernel's BTF.
    pub fn from_sys() -> Result<Self, BtfError> {
        Self::from_file(Path::new("/sys/kernel/btf/vmlinux"))
    }

    pub fn from_file(path: &Path) -> Result<Self, BtfError> {
        let data = std::fs::read(path)
            .map_err(|source| BtfError::Read { path: path.display().to_string(), source })?;
        Self::parse(&data)
    }

    pub fn parse(data: &[u8]) -> Result<Self, BtfError> {
        Self::parse_with(data, None)
    }

    /// A module's split BTF, read on top of `base` (vmlinux's). The result
    /// knows the module's structs only.
    pub fn parse_split(data: &[u8], base: &Btf) -> Result<Self, BtfError> {
        Self::parse_with(data, Some(base))
    }

    /// Reads `/sys/kernel/btf/<module>` on top of `base`.
    pub fn from_module(module: &str, base: &Btf) -> Result<Self, BtfError> {
        let path = Path::new("/sys/kernel/btf").join(module);
        let data = std::fs::read(&path)
            .map_err(|source| BtfError::Read { path: path.display().to_string(), source })?;
        Self::parse_split(&data, base)
    }

    /// Whether `strukt` is a struct this BTF describes.
    pub fn has_struct(&self, strukt: &str) -> bool {
        self.structs_by_name.contains_key(strukt)
    }

    fn parse_with(data: &[u8], base: Option<&Btf>) -> Result<Self, BtfError> {
        let u16_at = |at: usize| -> Option<u16> {
            Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
        };
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
        };
        if u16_at(0) != Some(BTF_MAGIC) {
            return Err(BtfError::Malformed("bad magic (big-endian or not BTF)"));
        }
        let header = (|| {
            let hdr_len = u32_at(4)? as usize;
            Some((
                hdr_len,
                u32_at(8)? as usize,
                u32_at(12)? as usize,
                u32_at(16)? as usize,
                u32_at(20)? as usize,
            ))
        })()
        .ok_or(BtfError::Malformed("short header"))?;
        let (hdr_len, type_off, type_len, str_off, str_len) = header;
        let types = data
            .get(hdr_len + type_off..hdr_len + type_off + type_len)
            .ok_or(BtfError::Malformed("type section out of bounds"))?;
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .ok_or(BtfError::Malformed("string section out of bounds"))?;
        let base_strings: &[u8] = base.map_or(&[], |b| b.strings.as_slice());
        let name = |off: u32| -> String {
            let off = off as usize;
            let rest = if off < base_strings.len() {
                &base_strings[off..]
            } else {
                strings.get(off - base_strings.len()..).unwrap_or_default()
            };
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        };
        let word = |at: usize| -> Result<u32, BtfError> {
            types
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                .ok_or(BtfError::Malformed("type record out of bounds"))
        };

        let first_id = base.map_or(0, |b| b.type_count) + 1;
        let mut btf = Btf { first_id, ..Btf::default() };
        let mut at = 0usize;
        let mut id = first_id;
        while at < types.len() {
            let (name_off, info, size_or_type) = (word(at)?, word(at + 4)?, word(at + 8)?);
            at += 12;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 == 1;
            let mut kept = Type::Other;
            match kind {
                KIND_STRUCT | KIND_UNION => {
                    let start = btf.members.len() as u32;
                    for i in 0..vlen {
                        let m = at + i * 12;
                        let offset = word(m + 8)?;
                        btf.members.push(Member {
                            name_off: word(m)?,
                            type_id: word(m + 4)?,
                            // With kind_flag set, the top 8 bits hold a bitfield size.
                            bit_offset: if kind_flag { offset & 0xff_ffff } else { offset },
                        });
                    }
                    if kind == KIND_STRUCT && name_off != 0 {
                        btf.structs_by_name.entry(name(name_off)).or_insert(id);
                    }
                    kept = Type::Composite { start, len: vlen as u32 };
                    at += vlen * 12;
                }
                KIND_INT | KIND_VAR | KIND_DECL_TAG => at += 4,
                KIND_ARRAY => at += 12,
                KIND_ENUM | KIND_FUNC_PROTO => at += vlen * 8,
                KIND_DATASEC | KIND_ENUM64 => at += vlen * 12,
                // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
                2 | 7..=12 | 16 | 18 => {
                    if matches!(kind, 8..=11 | 18) {
                        kept = Type::Alias(size_or_type);
                    }
                }
                _ => return Err(BtfError::Malformed("unknown type kind")),
            }
            btf.types.push(kept);
            id += 1;
        }
        btf.type_count = id - 1;
        btf.strings = [base_strings, strings].concat();
        Ok(btf)
    }

    /// Byte offset of `member` in `struct strukt`, searching anonymous
    /// structs and unions inside it.
    pub fn member_offset(&self, strukt: &str, member: &str) -> Result<u32, BtfError> {
        let id = *self
            .structs_by_name
            .get(strukt)
            .ok_or_else(|| BtfError::NoStruct(strukt.to_string()))?;
        let bits = self.find_member(id, member, 0).ok_or_else(|| BtfError::NoMember {
            strukt: strukt.to_string(),
            member: member.to_string(),
        })?;
        if bits % 8 != 0 {
            return Err(BtfError::Bitfield {
                strukt: strukt.to_string(),
                member: member.to_string(),
            });
        }
        Ok(bits / 8)
    }

    fn find_member(&self, id: u32, member: &str, base_bits: u32) -> Option<u32> {
        let Type::Composite { start, len } = self.type_of(self.resolve(id))? else {
            return None;
        };
        let members = &self.members[start as usize..(start + len) as usize];
        if let Some(m) = members.iter().find(|m| self.name(m.name_off) == member.as_bytes()) {
            return Some(base_bits + m.bit_offset);
        }
        members
            .iter()
            .filter(|m| self.name(m.name_off).is_empty())
            .find_map(|m| self.find_member(m.type_id, member, base_bits + m.bit_offset))
    }

    /// The type `id` if it is in this blob (not its base).
    fn type_of(&self, id: u32) -> Option<Type> {
        self.types.get(usize::try_from(id.checked_sub(self.first_id)?).ok()?).copied()
    }

    /// The NUL-terminated name at `off` in the string section (empty when
    /// out of bounds).
    fn name(&self, off: u32) -> &[u8] {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
    }

    /// Follows typedefs and qualifiers to the underlying type.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.type_of(id) {
                Some(Type::Alias(next)) => id = next,
                _ => break,
            }
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a BTF blob from type records and a string table.
    fn blob(types: &[u32], strings: &[u8]) -> Vec<u8> {
        let type_bytes: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = Vec::new();
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for w in [24u32, 0, type_bytes.len() as u32, type_bytes.len() as u32, strings.len() as u32]
        {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&type_bytes);
        out.extend_from_slice(strings);
        out
    }

    // strings: 0 "", 1 "int", 5 "outer", 11 "a", 13 "b", 15 "c"
    const STRINGS: &[u8] = b"\0int\0outer\0a\0b\0c\0";

    #[test]
    fn finds_members_directly_and_through_anonymous_unions() {
        let types = [
            // 1: int, 4 bytes
            1,
            KIND_INT << 24,
            4,
            32,
            // 2: union { int b; int c; } (anonymous)
            0,
            KIND_UNION << 24 | 2,
            4,
            13,
            1,
            0,
            15,
            1,
            0,
            // 3: struct outer { int a; union {..} (at byte 8); }
            5,
            KIND_STRUCT << 24 | 2,
            12,
            11,
            1,
            0,
            0,
            2,
            64,
        ];
        let btf = Btf::parse(&blob(&types, STRINGS)).expect("parses");
        assert_eq!(btf.member_offset("outer", "a").unwrap(), 0);
        assert_eq!(btf.member_offset("outer", "c").unwrap(), 8);
        assert!(matches!(btf.member_offset("outer", "zz"), Err(BtfError::NoMember { .. })));
        assert!(matches!(btf.member_offset("nope", "a"), Err(BtfError::NoStruct(_))));
    }

    #[test]
    fn reads_split_btf_on_top_of_its_base() {
        // Base: 1: int. Split: 2: struct s2 { int a (base type, base name) ;
        // int z (own name) at byte 4 }.
        let base = Btf::parse(&blob(&[1, KIND_INT << 24, 4, 32], STRINGS)).expect("base");
        let own = b"\0s2\0z\0";
        let s2 = STRINGS.len() as u32 + 1;
        let z = STRINGS.len() as u32 + 4;
        let split = blob(&[s2, KIND_STRUCT << 24 | 2, 8, 11, 1, 0, z, 1, 32], own);
        let btf = Btf::parse_split(&split, &base).expect("split parses");
        assert!(btf.has_struct("s2"));
        assert_eq!(btf.member_offset("s2", "a").unwrap(), 0);
        assert_eq!(btf.member_offset("s2", "z").unwrap(), 4);
    }

    #[test]
    fn rejects_garbage_and_truncation_without_panicking() {
        assert!(Btf::parse(b"").is_err());
        assert!(Btf::parse(&[0x9f, 0xeb, 1, 0, 24, 0]).is_err());
        let mut truncated = blob(&[5, KIND_STRUCT << 24 | 2, 12, 11, 1, 0], STRINGS);
        truncated.truncate(40);
        assert!(Btf::parse(&truncated).is_err());
    }

    #[test]
    fn reads_the_running_kernel() {
        let btf = Btf::from_sys().expect("this kernel exposes BTF");
        let pid = btf.member_offset("task_struct", "pid").expect("task_struct.pid");
        let tgid = btf.member_offset("task_struct", "tgid").expect("task_struct.tgid");
        assert_eq!(tgid, pid + 4, "pid_t pid; pid_t tgid; are adjacent in every kernel");
    }
}
