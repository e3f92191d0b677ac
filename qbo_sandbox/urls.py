app_name = "qbo_sandbox"
urlpatterns: list = []
