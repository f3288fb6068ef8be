"""The departments API: the directory of 责任单位 and the hand-overs (交办) to them."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from mediation.api.auth import authenticated, current
from mediation.departments import directory
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
