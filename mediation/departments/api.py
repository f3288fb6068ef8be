"""The departments API: the directory of 责任单位 and the hand-overs (交办) to them."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from mediation.api.auth import authenticated, current
from mediation.departments import commands, directory
from mediation.departments import schemas as s

blp = Blueprint("departments", __name__, url_prefix="/api",
                description="Departments (责任单位) and hand-overs to them (交办/转送)")


@blp.route("/departments")
class Departments(MethodView):
    @authenticated
    @blp.arguments(s.DepartmentListArgs, location="query")
    @blp.response(200, s.DepartmentOut(many=True))
    def get(self, args):
        """The department directory (officials see all; a department's users their own)."""
        return [directory.department_view(d) for d in directory.list_departments(current(), args)]

    @authenticated
    @blp.arguments(s.DepartmentIn)
    @blp.response(201, s.DepartmentOut)
    def post(self, data):
        """Add a department to a region (admins; supervisors within their jurisdiction)."""
        return directory.department_view(directory.create_department(current(), data))


@blp.route("/departments/<int:department_id>")
class DepartmentItem(MethodView):
    @authenticated
    @blp.response(200, s.DepartmentOut)
    def get(self, department_id):
        """One department."""
        return directory.department_view(directory.get_department(current(), department_id))

    @authenticated
    @blp.arguments(s.DepartmentPatch)
    @blp.response(200, s.DepartmentOut)
    def patch(self, data, department_id):
        """Change a department: name, kind, region, contact, its users, active."""
        return directory.department_view(directory.update_department(current(), department_id, data))


# --- hand-overs (交办/转送) ---------------------------------------------------------------------

def _view(h) -> dict:
    return commands.handover_view(h)


@blp.route("/cases/<int:case_id>/handovers")
class CaseHandovers(MethodView):
    @authenticated
    @blp.response(200, s.HandoverOut(many=True))
    def get(self, case_id):
        """The case's hand-overs with their replies (officials who see the case)."""
        return [_view(h) for h in commands.case_handovers(current(), case_id)]

    @authenticated
    @blp.arguments(s.HandoverIn)
    @blp.response(201, s.HandoverOut(many=True))
    def post(self, data, case_id):
        """Hand a matter of the case to one or more departments, with what is asked and the
        day the reply is due (a Beijing day): one hand-over each, sent at once."""
        return [_view(h) for h in commands.create(current(), case_id, data)]


@blp.route("/handovers")
class Handovers(MethodView):
    @authenticated
    @blp.arguments(s.HandoverListArgs, location="query")
    @blp.response(200, s.HandoverOut(many=True))
    def get(self, args):
        """A department's inbox of hand-overs, or the hand-overs of the cases an official
        sees; soonest due first."""
        return [_view(h) for h in commands.list_handovers(current(), args)]


@blp.route("/handovers/<int:handover_id>")
class HandoverItem(MethodView):
    @authenticated
    @blp.response(200, s.HandoverOut)
    def get(self, handover_id):
        """One hand-over with its replies."""
        return _view(commands.get_handover(current(), handover_id))


@blp.route("/handovers/<int:handover_id>/events")
class HandoverEvents(MethodView):
    @authenticated
    @blp.response(200, s.HandoverEventOut(many=True))
    def get(self, handover_id):
        """The hand-over's own events on its case's timeline (a department sees these only)."""
        return commands.handover_events(current(), handover_id)


@blp.route("/handovers/<int:handover_id>/send")
class HandoverSend(MethodView):
    @authenticated
    @blp.arguments(s.HandoverSend)
    @blp.response(200, s.HandoverOut)
    def post(self, data, handover_id):
        """Send a suggested hand-over (a strategy route's) with the ask and deadline."""
        return _view(commands.send(current(), handover_id, data))


@blp.route("/handovers/<int:handover_id>/acknowledge")
class HandoverAcknowledge(MethodView):
    @authenticated
    @blp.response(200, s.HandoverOut)
    def post(self, handover_id):
        """签收: the department has the hand-over (its users only)."""
        return _view(commands.acknowledge(current(), handover_id))


@blp.route("/handovers/<int:handover_id>/replies")
class HandoverReplies(MethodView):
    @authenticated
    @blp.arguments(s.ReplyIn)
    @blp.response(201, s.HandoverOut)
    def post(self, data, handover_id):
        """办理回复: the department's result and measures; attach documents to the reply with
        `POST /api/cases/<case_id>/documents` and `attach_to=handover_reply:<reply id>`."""
        r = commands.reply(current(), handover_id, data)
        return _view(r.handover)


@blp.route("/handovers/<int:handover_id>/accept")
class HandoverAccept(MethodView):
    @authenticated
    @blp.response(200, s.HandoverOut)
    def post(self, handover_id):
        """Accept the department's reply: the hand-over is done (the case's officers)."""
        return _view(commands.accept(current(), handover_id))


@blp.route("/handovers/<int:handover_id>/return")
class HandoverReturn(MethodView):
    @authenticated
    @blp.arguments(s.ReasonIn)
    @blp.response(200, s.HandoverOut)
    def post(self, data, handover_id):
        """Send the reply back with a reason: the department replies again."""
        return _view(commands.send_back(current(), handover_id, data["reason"]))


@blp.route("/handovers/<int:handover_id>/withdraw")
class HandoverWithdraw(MethodView):
    @authenticated
    @blp.arguments(s.ReasonIn)
    @blp.response(200, s.HandoverOut)
    def post(self, data, handover_id):
        """Take the hand-over back, or cancel a suggestion, with a reason."""
        return _view(commands.withdraw(current(), handover_id, data["reason"]))
