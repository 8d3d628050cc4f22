// The periodic task form: under the crontab field, say in words when the chosen crontab fires.
(function ($) {
  "use strict";
  var readable = JSON.parse($("#readable-crontabs").text());
  var help = $("#periodic-task-form").data("crontab-help");
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    $(".field-crontab .help").text(help).append("<br>", document.createTextNode("Translation: " + readable[$("#id_crontab").val()]));
  });
})(django.jQuery);
