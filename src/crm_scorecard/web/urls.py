"""The one map of the pages' addresses; the views live in `web.views`, by page family."""

from django.urls import path

from .views import (
    alerts,
    comments,
    complaints,
    customers,
    editing,
    indicators,
    profile,
    segments,
    surveys,
    tokens,
    voc,
)
from .views import jobs as background
from .views import scorecards as sc

urlpatterns = [
    path("", sc.home, name="home"),
    path("customers/", customers.customer_search, name="customer-search"),
    path("customers.csv", customers.customer_search_csv, name="customer-search-csv"),
    # Customers › Segments, Cohorts, Saved segments (not under customers/: a customer's page)
    path("segments/", segments.rfm_page, name="segments"),
    path("segments/cohorts/", segments.cohorts_page, name="cohorts"),
    path("segments/saved/", segments.saved_segments_page, name="saved-segments"),
    path("segments/saved/<int:pk>.csv", segments.saved_segment_csv, name="saved-segment-csv"),
    # Not under customers/: that address is a customer's own page, by any id.
    path("profile/", profile.customer_profile_page, name="customer-profile"),
    path("profile.csv", profile.customer_profile_csv, name="customer-profile-csv"),
    path("customers/<str:external_id>/", customers.customer_detail, name="customer-detail"),
    path(
        "customers/<str:external_id>/complaints/new/",
        complaints.complaint_new,
        name="complaint-new",
    ),
    path("complaints/", complaints.complaint_queue, name="complaint-queue"),
    path("complaints.csv", complaints.complaint_queue_csv, name="complaint-queue-csv"),
    path("complaints/<int:pk>/", complaints.complaint_detail, name="complaint-detail"),
    path(
        "customers/<str:external_id>/rating-link/",
        surveys.rating_link_new,
        name="rating-link-new",
    ),
    path("r/<str:token>/", surveys.rating_sheet, name="rating-sheet"),  # public: the link
    path("scorecards/new/", editing.scorecard_new, name="scorecard-new"),
    path("scorecards/import/", editing.scorecard_import, name="scorecard-import"),
    path("scorecards/templates/", editing.template_install_view, name="template-install"),
    path("scorecards/<int:pk>/", sc.scorecard_detail, name="scorecard-detail"),
    path("scorecards/<int:pk>/changes/", sc.scorecard_changes, name="scorecard-changes"),
    path("scorecards/<int:pk>/edit/", editing.scorecard_edit, name="scorecard-edit"),
    path("scorecards/<int:pk>/export/", sc.scorecard_export, name="scorecard-export"),
    # report.pdf, report.xlsx, report.csv?table=...; any other format answers 400 naming them
    path("scorecards/<int:pk>/report.<str:fmt>", sc.scorecard_report, name="scorecard-report"),
    # the PDF and workbook buttons with htmx: made by the worker, with a progress bar
    path("scorecards/<int:pk>/report-jobs/", background.report_job_new, name="report-job-new"),
    path("scorecards/<int:pk>/schedules/", background.report_schedules, name="report-schedules"),
    path(
        "scorecards/<int:pk>/schedules/<int:schedule_pk>/delete/",
        background.report_schedule_delete,
        name="report-schedule-delete",
    ),
    path("jobs/<str:job_id>/", background.job_detail, name="job-detail"),
    path("jobs/<str:job_id>/download/", background.job_download, name="job-download"),
    path("scorecards/<int:pk>/diamond/", sc.diamond, name="diamond"),
    path("scorecards/<int:pk>/map/", sc.strategy_map, name="strategy-map"),
    path("scorecards/<int:pk>/links/new/", editing.link_new, name="link-new"),
    path("scorecards/<int:pk>/goals/new/", editing.goal_new, name="goal-new"),
    path("scorecards/<int:pk>/goals/<int:goal_pk>/", sc.goal_detail, name="goal-detail"),
    path("scorecards/<int:pk>/goals/<int:goal_pk>/edit/", editing.goal_edit, name="goal-edit"),
    path(
        "scorecards/<int:pk>/goals/<int:goal_pk>/indicators/new/",
        editing.indicator_new,
        name="indicator-new",
    ),
    path(
        "scorecards/<int:pk>/goals/<int:goal_pk>/initiatives/new/",
        editing.initiative_new,
        name="initiative-new",
    ),
    path("indicators/<int:pk>/", indicators.indicator_detail, name="indicator-detail"),
    path("indicators/<int:pk>/edit/", editing.indicator_edit, name="indicator-edit"),
    path(
        "indicators/<int:pk>/history.csv",
        indicators.indicator_history_csv,
        name="indicator-history-csv",
    ),
    path(
        "indicators/<int:pk>/breakdown.csv",
        indicators.indicator_breakdown_csv,
        name="indicator-breakdown-csv",
    ),
    path("indicators/<int:pk>/comments/", comments.comment_new, name="indicator-comment-new"),
    path(
        "indicators/comments/<int:pk>/delete/",
        comments.comment_delete,
        name="indicator-comment-delete",
    ),
    path("alerts/", alerts.alert_list, name="alerts"),
    path("alerts/read/", alerts.alert_read_all, name="alerts-read-all"),
    path("alerts/<int:pk>/read/", alerts.alert_read, name="alerts-read"),
    path("alerts/follow/", alerts.alert_follow, name="alerts-follow"),
    path("account/tokens/", tokens.api_tokens, name="api-tokens"),
    path("account/tokens/<int:pk>/revoke/", tokens.api_token_revoke, name="api-token-revoke"),
    path("voc/", voc.board, name="voc-board"),
    path("voc/themes/new/", voc.theme_new, name="voc-theme-new"),
    path("voc/themes/<int:pk>/", voc.theme_detail, name="voc-theme"),
    path("voc/themes/<int:pk>/rename/", voc.theme_rename, name="voc-theme-rename"),
    path("voc/themes/<int:pk>/assign/", voc.theme_assign, name="voc-theme-assign"),
    path("voc/themes/<int:pk>/merge/", voc.theme_merge, name="voc-theme-merge"),
    path("voc/themes/<int:pk>/split/", voc.theme_split, name="voc-theme-split"),
    path("voc/comments/<int:pk>/move/", voc.comment_move, name="voc-move"),
]
