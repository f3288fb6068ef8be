"""Sessions and agreements: `/api/cases/<id>/sessions|agreements`, `/api/sessions/<id>/...`,
`/api/agreements/<id>/...`."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from mediation.api.auth import authenticated, current
from mediation.sessions import chat, visits
from mediation.sessions import commands as c
from mediation.sessions import followup as f
from mediation.sessions import schemas as s

blp = Blueprint("sessions", __name__, url_prefix="/api",
                description="Mediation sessions and agreements (调解协议)")


@blp.route("/cases/<int:case_id>/sessions")
class CaseSessions(MethodView):
    @authenticated
    @blp.response(200, s.SessionOut(many=True))
    def get(self, case_id):
        """The case's sessions you may see: officials see all, others those they are in."""
        return [c.session_view(x) for x in c.sessions_of(current(), case_id)]

    @authenticated
    @blp.arguments(s.SessionIn)
    @blp.response(201, s.SessionOut)
    def post(self, data, case_id):
        """Schedule a session with the case's mediator; participants are invited live."""
        return c.session_view(c.schedule(current(), case_id, data))


@blp.route("/sessions/<int:session_id>")
class SessionItem(MethodView):
    @authenticated
    @blp.response(200, s.SessionOut)
    def get(self, session_id):
        """One session, if you are in it or an official of its case."""
        return c.session_view(c.get_session(current(), session_id)[0])


@blp.route("/sessions/<int:session_id>/start", methods=["POST"])
@authenticated
@blp.response(200, s.SessionOut)
def start(session_id):
    """Start a scheduled or postponed session (its mediator or an officer)."""
    return c.session_view(c.start(current(), session_id))


@blp.route("/sessions/<int:session_id>/end", methods=["POST"])
@authenticated
@blp.arguments(s.EndIn)
@blp.response(200, s.SessionOut)
def end(data, session_id):
    """End a session in progress, with its minutes (笔录)."""
    return c.session_view(c.end(current(), session_id, data["minutes"]))


@blp.route("/sessions/<int:session_id>/cancel", methods=["POST"])
@authenticated
@blp.arguments(s.CancelIn)
@blp.response(200, s.SessionOut)
def cancel(data, session_id):
    """Cancel a session that has not started."""
    return c.session_view(c.cancel(current(), session_id, data["reason"]))


@blp.route("/sessions/<int:session_id>/postpone", methods=["POST"])
@authenticated
@blp.arguments(s.PostponeIn)
@blp.response(200, s.SessionOut)
def postpone(data, session_id):
    """Put a session off to a new time."""
    return c.session_view(c.postpone(current(), session_id, data["scheduled_at"], data["reason"]))


@blp.route("/sessions/<int:session_id>/attendance", methods=["POST"])
@authenticated
@blp.arguments(s.AttendanceIn)
@blp.response(200, s.SessionOut)
def attendance(data, session_id):
    """Record who attended (the mediator or an officer)."""
    return c.session_view(c.record_attendance(current(), session_id, data["attendance"]))


@blp.route("/sessions/<int:session_id>/join", methods=["POST"])
@authenticated
@blp.response(200, s.SessionOut)
def join(session_id):
    """Join a session in progress as one of its participants."""
    return c.session_view(c.join(current(), session_id))


@blp.route("/sessions/<int:session_id>/caucus/<int:user_id>/messages")
class CaucusMessages(MethodView):
    @authenticated
    @blp.response(200, s.CaucusMessageOut(many=True))
    def get(self, session_id, user_id):
        """The private channel (背靠背) between the mediator and one side, `user_id`: for
        the two of them only (404 for anyone else)."""
        return chat.caucus_messages(current(), session_id, user_id)

    @authenticated
    @blp.arguments(s.ChatIn)
    @blp.response(201, s.CaucusMessageOut)
    def post(self, data, session_id, user_id):
        """Say something in the private channel; only the mediator's and that side's
        connections are sent it — not the other side, not the officials watching."""
        return chat.post_caucus(current(), session_id, user_id, data["body"])


@blp.route("/sessions/<int:session_id>/minutes")
class SessionMinutes(MethodView):
    @authenticated
    @blp.response(200, s.MinutesOut)
    def get(self, session_id):
        """The minutes and the notes of the room, each naming its channel (the caucus
        notes of the reader's own channels only)."""
        return chat.minutes(current(), session_id)


@blp.route("/cases/<int:case_id>/agreements")
class CaseAgreements(MethodView):
    @authenticated
    @blp.response(200, s.AgreementOut(many=True))
    def get(self, case_id):
        """The case's agreements, oldest first."""
        return [c.agreement_view(a) for a in c.agreements_of(current(), case_id)]

    @authenticated
    @blp.arguments(s.AgreementIn)
    @blp.response(201, s.AgreementOut)
    def post(self, data, case_id):
        """Draft an agreement (the case's mediator); parts may be filled in later."""
        return c.agreement_view(c.draft(current(), case_id, data))


@blp.route("/agreements/<int:agreement_id>")
class AgreementItem(MethodView):
    @authenticated
    @blp.response(200, s.AgreementOut)
    def get(self, agreement_id):
        """One agreement with its signers and signatures."""
        return c.agreement_view(c.get_agreement(current(), agreement_id, read_only=True)[0])

    @authenticated
    @blp.arguments(s.AgreementPatch)
    @blp.response(200, s.AgreementOut)
    def patch(self, data, agreement_id):
        """Edit a draft; send the `version` you edited (a stale one is a 409)."""
        version = data.pop("version")
        return c.agreement_view(c.revise(current(), agreement_id, version, data))


@blp.route("/agreements/<int:agreement_id>/finalise", methods=["POST"])
@authenticated
@blp.response(200, s.AgreementOut)
def finalise(agreement_id):
    """Fix the text for signing; 422 naming any statutory part that is missing."""
    return c.agreement_view(c.finalise(current(), agreement_id))


@blp.route("/agreements/<int:agreement_id>/sign", methods=["POST"])
@authenticated
@blp.arguments(s.SignIn)
@blp.response(200, s.AgreementOut)
def sign(data, agreement_id):
    """Sign a final agreement; the last signature puts it into effect."""
    return c.agreement_view(c.sign(current(), agreement_id, data["signer"], data["method"],
                                   data.get("party_index")))


@blp.route("/cases/<int:case_id>/performance")
class CasePerformance(MethodView):
    @authenticated
    @blp.response(200, s.PerformanceOut(many=True))
    def get(self, case_id):
        """The case's performance items by deadline, overdue ones flagged."""
        return [f.item_view(i) for i in f.items_of(current(), case_id)]


@blp.route("/agreements/<int:agreement_id>/performance")
class AgreementPerformance(MethodView):
    @authenticated
    @blp.response(200, s.PerformanceOut(many=True))
    def get(self, agreement_id):
        """The agreement's performance items by deadline (its mediator reads them until
        the case is closed)."""
        return [f.item_view(i) for i in f.items_of_agreement(current(), agreement_id)]

    @authenticated
    @blp.arguments(s.PerformanceIn)
    @blp.response(201, s.PerformanceOut)
    def post(self, data, agreement_id):
        """Track a payment or action the agreement in effect obliges, with its deadline."""
        return f.item_view(f.add_item(current(), agreement_id, data))


@blp.route("/performance/<int:item_id>/done", methods=["POST"])
@authenticated
@blp.arguments(s.PerformanceDoneIn)
@blp.response(200, s.PerformanceOut)
def performance_done(data, item_id):
    """Mark an item performed, with a note of the evidence."""
    return f.item_view(f.mark_done(current(), item_id, data["evidence"]))


@blp.route("/cases/<int:case_id>/visits")
class CaseVisits(MethodView):
    @authenticated
    @blp.response(200, s.VisitOut(many=True))
    def get(self, case_id):
        """The case's follow-up visits (回访), scheduled and made, missed ones flagged (the
        case's officials and its agreements' mediator)."""
        return [visits.visit_view(v) for v in visits.visits_of(current(), case_id)]

    @authenticated
    @blp.arguments(s.VisitIn)
    @blp.response(201, s.VisitOut)
    def post(self, data, case_id):
        """Record a visit made outside the schedule."""
        return visits.visit_view(visits.record_unscheduled(current(), case_id, data))


@blp.route("/visits/<int:visit_id>/record", methods=["POST"])
@authenticated
@blp.arguments(s.VisitIn)
@blp.response(200, s.VisitOut)
def record_visit(data, visit_id):
    """Record a scheduled visit as made (409 if it is recorded already)."""
    return visits.visit_view(visits.record(current(), visit_id, data))


@blp.route("/agreements/<int:agreement_id>/judicial-confirmation", methods=["POST"])
@authenticated
@blp.arguments(s.ConfirmationApplyIn)
@blp.response(200, s.AgreementOut)
def apply_for_confirmation(data, agreement_id):
    """Record the joint application for judicial confirmation (within 30 days of effect)."""
    return c.agreement_view(f.apply_for_confirmation(current(), agreement_id, data["applied_on"],
                                                     data["court"]))


@blp.route("/agreements/<int:agreement_id>/judicial-decision", methods=["POST"])
@authenticated
@blp.arguments(s.ConfirmationDecisionIn)
@blp.response(200, s.AgreementOut)
def court_decision(data, agreement_id):
    """Record the court's decision on the application."""
    return c.agreement_view(f.record_court_decision(current(), agreement_id, data["decision"],
                                                    data["decided_on"], data["note"]))


@blp.route("/cases/<int:case_id>/resolution", methods=["POST"])
@authenticated
@blp.arguments(s.ResolutionIn)
@blp.response(201, s.ResolutionOut)
def resolve(data, case_id):
    """Resolve the case (化解) with the decision and reason (its officers)."""
    r = f.resolve(current(), case_id, data["basis"], data["decision"], data["reason"])
    return {**{k: getattr(r, k) for k in ("id", "case_id", "basis", "decision", "reason",
                                          "agreement_id", "resolved_by_id", "resolved_at")},
            "case_status": "resolved"}


@blp.route("/cases/<int:case_id>/cessation", methods=["POST"])
@authenticated
@blp.arguments(s.CessationIn)
@blp.response(200, s.CaseStateOut)
def cessation(data, case_id):
    """Record the cessation of petitioning (息诉罢访): undertaking, or quiet period passed."""
    return f.record_cessation(current(), case_id, data["basis"], data["signed_on"], data["note"])


@blp.route("/cases/<int:case_id>/petitions", methods=["POST"])
@authenticated
@blp.arguments(s.PetitionIn)
@blp.response(200, s.CaseStateOut)
def new_petition(data, case_id):
    """A new petition on a resolved or closed case: the case is reopened and flagged."""
    return f.new_petition(current(), case_id, data["received_on"], data["summary"], {
        k: data[k] for k in ("channel", "level", "head_count") if k in data})


@blp.route("/sessions/<int:session_id>/messages")
class SessionMessages(MethodView):
    @authenticated
    @blp.arguments(s.ChatArgs, location="query")
    @blp.response(200, s.ChatOut(many=True))
    def get(self, args, session_id):
        """The session room's messages after a case seq, oldest first."""
        return chat.messages(current(), session_id, args["after"])

    @authenticated
    @blp.arguments(s.ChatIn)
    @blp.response(201, s.ChatOut)
    def post(self, data, session_id):
        """Say something in a session in progress; it reaches the room live."""
        return chat.post(current(), session_id, data["body"])
