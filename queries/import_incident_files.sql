-- The data files of the incidents table (borderwatch/importers/lakefiles.py: after a failed commit,
-- the files it moved in that the lake does not reference are deleted).
SELECT data_file FROM ducklake_list_files('bw', 'incidents')
