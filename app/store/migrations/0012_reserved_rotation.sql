-- reserved; replaced by the change that needs this number
SELECT 1;
