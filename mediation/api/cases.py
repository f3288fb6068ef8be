"""Cases: intake, the dossier, classification, ownership, clocks, timeline, petitioners."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from mediation.api.auth import authenticated, current
from mediation.cases import commands, merge
from mediation.cases.commands import petitioner_view
from mediation.cases.present import case_view
from mediation.cases.queries import filtered_cases, page_of, sorted_cases
from mediation.events import visible_events
from mediation.permissions import require_case
from mediation.schemas import cases as s

blp = Blueprint("cases", __name__, url_prefix="/api", description="Cases and their timeline")


@blp.route("/cases")
class Cases(MethodView):
    @authenticated
    @blp.arguments(s.CaseListArgs, location="query", unknown=ma.RAISE)
    @blp.response(200, s.CasePage)
    def get(self, args):
        """List the cases you may see, filtered, sorted (`sort`; newest first by default)
        and paginated (`page`, `page_size`; `total` and `pages` say how many)."""
        sort = args.get("sort") or "-id"
        size = args["page_size"]
        rows, total, page = page_of(sorted_cases(filtered_cases(current(), args), sort),
                                    args["page"], size, clamp=False)
        return {"items": [case_view(c, detail=False) for c in rows], "total": total,
                "page": page, "page_size": size, "pages": max(1, -(-total // size)), "sort": sort}

    @authenticated
    @blp.arguments(s.CaseIn)
    @blp.response(201, s.CaseOut)
    @blp.alt_response(200, schema=s.CaseOut,
                      description="A repeat petition (repeat_of): added to that case, no new case")
    @blp.alt_response(409, response="CONFLICT", description=(
        "The petitioner may have a case already: `candidates` lists them (ranked, numbers "
        "masked); send again with repeat_of or new_case_reason"))
    def post(self, data):
        """Take a case in (intake): the case, its petitioners, dossier and first petition.

        Before anything is written the returning petitioner is looked for (numbers by blind
        index, the name within the county, the matter); strong matches refuse the intake
        (409 with the candidates) unless the request says it is a repeat petition of one of
        them (`repeat_of`) or a new case (`new_case_reason`)."""
        case = commands.intake(current(), data)
        if data.get("repeat_of") is not None:
            return case_view(case), 200
        return case_view(case)


@blp.route("/cases/candidates")
class CaseCandidates(MethodView):
    @authenticated
    @blp.arguments(s.CandidatesIn)
    @blp.response(200, s.RepeatCandidateOut(many=True))
    def post(self, data):
        """The cases an intake may repeat, ranked, with why and how strongly (numbers masked)."""
        return commands.intake_candidates(current(), data)


@blp.route("/cases/<int:case_id>/merge")
class CaseMerge(MethodView):
    @authenticated
    @blp.arguments(s.MergeIn)
    @blp.response(200, s.CaseOut)
    def post(self, data, case_id):
        """Merge this case into another (`into`): it is closed as merged and points there;
        the survivor's timeline records the merge with this case's last hash."""
        return case_view(merge.merge(current(), case_id, data["into"], data["reason"]))


@blp.route("/cases/<int:case_id>")
class CaseItem(MethodView):
    @authenticated
    @blp.response(200, s.CaseOut)
    def get(self, case_id):
        """One case with its dossier, categories, strategy, needs, owner and clocks."""
        return case_view(require_case(current(), case_id))

    @authenticated
    @blp.arguments(s.CasePatch)
    @blp.response(200, s.CaseOut)
    def patch(self, data, case_id):
        """Edit the case; the timeline keeps every old value."""
        return case_view(commands.update(current(), case_id, data))


@blp.route("/cases/<int:case_id>/status")
class CaseStatus(MethodView):
    @authenticated
    @blp.arguments(s.TransitionIn)
    @blp.response(200, s.CaseOut)
    def post(self, data, case_id):
        """Move the case along its state machine (409 with the current state if illegal)."""
        return case_view(commands.transition(current(), case_id, data["status"], data["reason"]))


@blp.route("/cases/<int:case_id>/categories")
class CaseCategories(MethodView):
    @authenticated
    @blp.arguments(s.CategoryOverrideIn)
    @blp.response(200, s.CaseOut)
    def post(self, data, case_id):
        """Add or remove one of the six categories by hand, with the reason."""
        return case_view(commands.override_category(current(), case_id, **data))


@blp.route("/cases/<int:case_id>/action-listing")
class CaseActionListing(MethodView):
    @authenticated
    @blp.arguments(s.ActionListingIn)
    @blp.response(200, s.CaseOut)
    def post(self, data, case_id):
        """纳入专项行动: the case counts in the KPIs from the list date (a case with no category
        needs the reason); 409 with the current listing if it is listed already."""
        return case_view(commands.list_in_action(current(), case_id, data.get("listed_on"), data["reason"]))

    @authenticated
    @blp.arguments(s.ActionUnlistingIn)
    @blp.response(200, s.CaseOut)
    def delete(self, data, case_id):
        """移出专项行动 (a listing made in error), with the reason; 409 if it is not listed."""
        return case_view(commands.unlist_from_action(current(), case_id, data["reason"]))


@blp.route("/cases/<int:case_id>/owner")
class CaseOwner(MethodView):
    @authenticated
    @blp.arguments(s.OwnerIn)
    @blp.response(200, s.CaseOut)
    def put(self, data, case_id):
        """Assign the lead official who owns the case (三级包案)."""
        return case_view(commands.assign_owner(
            current(), case_id, data["lead_official_id"], data.get("level"),
            data.get("assigned_on")))


@blp.route("/cases/<int:case_id>/contacts")
class CaseContacts(MethodView):
    @authenticated
    @blp.arguments(s.ContactIn)
    @blp.response(201, s.CaseOut)
    def post(self, data, case_id):
        """Record the owner's progress hearing or meeting with the petitioner."""
        commands.record_contact(current(), case_id, data["kind"], data["held_on"], data["note"])
        return case_view(require_case(current(), case_id))


@blp.route("/cases/<int:case_id>/extension")
class CaseExtension(MethodView):
    @authenticated
    @blp.arguments(s.ExtensionIn)
    @blp.response(200, s.CaseOut)
    def post(self, data, case_id):
        """Extend the handling clock once, with the approver and reason."""
        return case_view(commands.extend_handling(current(), case_id, **data))


@blp.route("/cases/<int:case_id>/investigations")
class CaseInvestigations(MethodView):
    @authenticated
    @blp.arguments(s.InvestigationIn)
    @blp.response(201, s.CaseOut)
    def post(self, data, case_id):
        """Add an investigation record (archive review, on-site check, face-to-face talk)."""
        commands.add_investigation(current(), case_id, data)
        return case_view(require_case(current(), case_id))


@blp.route("/cases/<int:case_id>/petitioners")
class CasePetitioners(MethodView):
    @authenticated
    @blp.arguments(s.PetitionerIn)
    @blp.response(201, s.PetitionerOut)
    def post(self, data, case_id):
        """Add a petitioner to the case."""
        return petitioner_view(commands.add_petitioner(current(), case_id, data))


@blp.route("/cases/<int:case_id>/petitioners/<int:petitioner_id>/reveal")
class PetitionerReveal(MethodView):
    @authenticated
    @blp.arguments(s.RevealIn)
    @blp.response(200, s.PetitionerOut)
    def post(self, data, case_id, petitioner_id):
        """Show full numbers to a role that needs them; the showing goes on the timeline."""
        return commands.reveal_pii(current(), case_id, petitioner_id, data["fields"],
                                   data["reason"])


@blp.route("/petitioners/search")
class PetitionerSearch(MethodView):
    @authenticated
    @blp.arguments(s.PetitionerSearchIn)
    @blp.response(200, s.PetitionerOut(many=True))
    @blp.alt_response(403, response="FORBIDDEN",
                      description="Your role may not reveal numbers, so it may not search by them")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS",
                      description="Too many searches by number; admins are alerted")
    def post(self, data):
        """Find petitioners by number (POST keeps the number out of URLs and logs).

        For the roles that may reveal numbers, on the cases where they may; throttled per
        user (429 past `MEDIATION_PII_SEARCH_RATE`) and recorded with the reason."""
        kind = "id_number" if "id_number" in data else "phone"
        found = commands.find_petitioners(current(), kind, data[kind], data["reason"])
        return [petitioner_view(p) | {"case_id": p.case_id} for p in found]


@blp.route("/cases/<int:case_id>/timeline")
class CaseTimeline(MethodView):
    @authenticated
    @blp.arguments(s.TimelineArgs, location="query", unknown=ma.RAISE)
    @blp.response(200, s.TimelineOut)
    def get(self, args, case_id):
        """The case's events after a sequence number, in order: those you may see."""
        case = require_case(current(), case_id)
        last_seq = case.last_seq  # read first: every event up to it is committed
        events, more = visible_events(current(), case, args["after"], args["limit"])
        return {"events": [e.envelope() for e in events if e.seq <= last_seq],
                "last_seq": last_seq, "has_more": more}
