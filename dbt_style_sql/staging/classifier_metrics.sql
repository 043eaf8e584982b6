-- One row per trained classifier: test-set accuracy, balanced accuracy, weighted and macro P/R/F1, majority baseline.
select * from {{ lake('classifier_metrics') }}
