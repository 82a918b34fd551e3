from tests.markers import mark_folder

pytest_collection_modifyitems = mark_folder(__file__, "compose")
