"""Reports: a scorecard as a PDF board pack or an Excel workbook, for one department and
period, holding only what its reader may see. A layer above scorecards and below the
faces: the page button, the API and `crm-scorecard report` all call `reports.exports`."""
