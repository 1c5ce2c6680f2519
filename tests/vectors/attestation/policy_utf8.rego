# policy_utf8.rego: non-ASCII text (été, ✓) is hashed as its UTF-8 bytes.
package policy

api_version := "0.10.0"
