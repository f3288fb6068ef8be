"""Supervision (督查督办): KPIs with exact definitions, the weekly, monthly and quarterly
reports, the Excel ledger (台账), satisfaction surveys and the third-party export."""
