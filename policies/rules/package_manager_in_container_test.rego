package palisade.rules.package_manager_in_container_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.package_manager_in_container as rule

test_apt_get_install if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/apt-get", ["apt-get", "install", "-y", "nmap"])
	hits == {"apt-get install run in container web (registry.example.com/shop/web:1.4.2): apt-get install -y nmap"}
}

test_apk_add if {
	hits := rule.hits with input as fx.container_exec("/sbin/apk", ["apk", "add", "--no-cache", "socat"])
	count(hits) == 1
}

test_pip_script_through_python if {
	# /usr/local/bin/pip has a python shebang: binary python3, argv[1] the script.
	ev := fx.with_process(
		fx.container_exec("/usr/bin/python3.12", ["/usr/bin/python3", "/usr/local/bin/pip", "install", "requests"]),
		{"filename": "/usr/local/bin/pip"},
	)
	hits := rule.hits with input as ev
	count(hits) == 1
}

test_python_dash_m_pip if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/python3", ["python3", "-m", "pip", "install", "paramiko"])
	count(hits) == 1
}

test_npm_ci_through_env if {
	ev := fx.with_process(
		fx.container_exec("/usr/bin/env", ["/usr/bin/env", "node", "/usr/bin/npm", "ci"]),
		{"filename": "/usr/bin/npm"},
	)
	hits := rule.hits with input as ev
	count(hits) == 1
}

test_queries_are_not_matched if {
	count(rule.hits) == 0 with input as fx.container_exec("/usr/bin/dpkg", ["dpkg", "-l"])
	count(rule.hits) == 0 with input as fx.container_exec("/usr/bin/npm", ["npm", "run", "start"])
	count(rule.hits) == 0 with input as fx.container_exec("/usr/bin/pip", ["pip", "show", "requests"])
}

test_host_install_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/apt-get", ["apt-get", "install", "-y", "htop"])
	count(hits) == 0
}
