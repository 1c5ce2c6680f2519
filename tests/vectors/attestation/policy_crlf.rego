# policy_crlf.rego: the same rules with CRLF line ends; no newline normalisation
# may happen, so its hostdata differs from policy_minimal.rego.
package policy

api_version := "0.10.0"
