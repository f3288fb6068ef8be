"""What pyproject.toml cannot say: the repository's top-level `templates/` is shipped
inside the package, as `mediation/templates`, so that a wheel installs no top-level
`templates` into site-packages (mediation.about.template_folder finds either place)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["mediation", "mediation.*", "realtime", "realtime.*",
                                      "referrals", "referrals.*"]),
              "mediation.templates"],
    package_dir={"mediation.templates": "templates"},
    package_data={
        "mediation": ["data/*.txt", "data/*.tsv", "migrations/*", "migrations/versions/*.py",
                      "static/**/*", "demo/*",
                      "documents/checklist.json",
                      "translations/**/*"],
        "mediation.templates": ["**/*.html"],
        "referrals": ["*.json", "README.md"],
    },
)
