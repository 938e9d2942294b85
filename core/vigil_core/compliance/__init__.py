"""Compliance: what a deployment is allowed to run and the documents that account for it.

The detector inventory of a configuration checked against its deployment context
(`inventory`), the processing summary (`summary`), the impact-assessment report and its
document model (`assessment`, `document`) and the public signage (`signage`). The safeguards
applied at run time (masks, purposes, contexts, retention, the access log) are in
`vigil_core.privacy`.
"""
