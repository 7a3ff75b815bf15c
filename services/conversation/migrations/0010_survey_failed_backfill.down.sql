-- Nothing to undo: 0009's down drops the column.
SELECT 1;
