# Matching a workload (what the agent knows of a cgroup: its container and
# its pod) by the scope keys that exception scopes and kernel scopes share.
# `input` is an event, or a workload as the agent describes one to
# data.palisade.kernel: {"time", "host": true} for a host cgroup, or
# {"time", "container", "pod"} for a container or a pod ("container": {}
# while the container is not known).
package palisade.lib.workload

import rego.v1

# Keys about the workload, decidable for a whole cgroup.
keys := {"image", "image_prefix", "namespace", "pod_labels", "container_id"}

# Keys about the process (which binary, which actor): an exception's scope
# may use them, but they are judged per event, in userspace.
process_keys := {"binary", "binary_prefix", "actor"}

# Every key an exception's scope may use. A key not listed here never
# matches (a typo disables the exception rather than widening it), and
# lib/exceptions.rego reports it.
scope_keys := keys | process_keys

key_matches(key, want) if {
	key == "image"
	input.container.image == want
}

key_matches(key, want) if {
	key == "image_prefix"
	is_string(want)
	startswith(input.container.image, want)
}

key_matches(key, want) if {
	key == "namespace"
	input.pod.namespace == want
}

key_matches(key, want) if {
	key == "pod_labels"
	is_object(want)
	every label, value in want {
		input.pod.labels[label] == value
	}
}

key_matches(key, want) if {
	key == "container_id"
	input.container.id == want
}
