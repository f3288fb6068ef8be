"""Schemas shared by the API and the pages, in one neutral place: `base` (strict loading and
the common checks), `cases` (cases, petitioners, owners, sign-in), `supervision`
(inspections, deductions, rectifications, surveys). The API modules and the page modules
both import from here, never from each other.
"""
