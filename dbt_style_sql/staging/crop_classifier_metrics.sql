-- One row per pooling of the crop network's held-out predictions (per image, per well): accuracy, balanced
-- accuracy, weighted and macro P/R/F1, majority baseline. Every plate is predicted by a network trained on
-- the other replicate plates only.
select * from {{ lake('crop_classifier_metrics') }}
