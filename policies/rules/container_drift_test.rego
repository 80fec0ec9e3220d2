package palisade.rules.container_drift_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.container_drift as rule

drifted(event, reason, file) := object.union(event, {"process": {"exe": {
	"inode": 77, "dev": 50,
	"drift": {"reason": reason, "reasons": [reason], "file": file},
}}})

test_binary_copied_into_the_container if {
	e := drifted(fx.container_exec("/tmp/xmrig", ["/tmp/xmrig"]), "upper_layer", "executable")
	rule.hits == {"program not in the image (upper_layer, executable) in container web (registry.example.com/shop/web:1.4.2): /tmp/xmrig"} with input as e
}

test_script_made_executable_after_start if {
	e := drifted(fx.container_exec("/bin/sh", ["/bin/sh", "/app/run.sh"]), "chmod_after_start", "script")
	count(rule.hits) == 1 with input as e
}

test_memfd_in_a_container if {
	e := drifted(fx.container_exec("/memfd:x", ["x"]), "memfd", "executable")
	count(rule.hits) == 1 with input as e
}

test_image_binary_is_not_drift if {
	e := object.union(fx.container_exec("/usr/bin/python3", ["python3"]), {"process": {"exe": {"inode": 5, "dev": 50}}})
	count(rule.hits) == 0 with input as e
}

test_host_process_is_never_container_drift if {
	e := drifted(fx.host_exec("/memfd:x", ["x"]), "memfd", "executable")
	count(rule.hits) == 0 with input as e
}
