package palisade.rules.http_file_server_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.http_file_server as rule

test_file_servers if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/python3.12", ["python3", "-m", "http.server", "8000"])
	hits == {"ad-hoc HTTP file server started on the host: python3 -m http.server 8000"}
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/python2", ["python", "-m", "SimpleHTTPServer"])
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/php", ["php", "-S", "0.0.0.0:8080"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/ruby", ["ruby", "-run", "-e", "httpd", ".", "-p", "8080"])
	count(rule.hits) == 1 with input as fx.container_exec("/bin/busybox", ["busybox", "httpd", "-f", "-p", "8080"])
}

test_other_modules_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/python3", ["python3", "-m", "pip", "install", "x"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/sbin/httpd", ["httpd", "-DFOREGROUND"])
}
