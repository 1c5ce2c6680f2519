# policy_minimal.rego: a hand-written stand-in for a confcom CCE policy.
# Every byte of this file, these comment lines included, is hashed.
package policy

api_version := "0.10.0"
framework_version := "0.2.3"

containers := []
allow_properties_access := false
allow_dump_stacks := false
allow_runtime_logging := false
