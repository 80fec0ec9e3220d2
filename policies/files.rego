# The file paths the kernel watches, compiled by the agent into its
# FILE_WATCH prefix map when the bundle loads: not part of any decision.
#
# Every rule module may define `files`, an object with `read` and/or
# `write`, each a list of absolute path prefixes:
#
#   read    opens for reading only, of a path under the prefix
#   write   opens for writing (write access, O_CREAT or O_TRUNC), unlinks,
#           renames from or to the prefix, and mode changes (chmod)
#
# The kernel emits file_open, file_unlink, file_rename and file_chmod
# events only for paths under a watched prefix: all other file activity
# costs one map lookup and produces nothing. A rule's `hits` read its own
# `files`, so what is watched and what is matched come from one place. A
# prefix matches the path string the caller passed; only absolute paths
# can match (see README.md, "Known gaps").
package palisade.files

import rego.v1

# METADATA
# description: The watched prefixes of every rule that is not off.
# entrypoint: true
watch := {"read": prefixes("read"), "write": prefixes("write")}

prefixes(access) := sort({p |
	some name
	meta := data.palisade.rules[name].meta
	not off(meta.id)
	section := data.palisade.rules[name].files
	is_object(section)
	list := section[access]
	is_array(list)
	some p in list
})

# A rule turned off (config `rule_modes`) watches nothing.
off(id) if data.palisade.config.rule_modes[id] == "off"
